"""Language of a file, from its name alone (the chunker picks its rules by it; search may filter on it).

Paths come from repositories and are hostile: any string is accepted, nothing here raises.
"""

_EXTENSIONS = {
    "python": ("py", "pyi", "pyw", "pyx", "pxd"),
    "javascript": ("js", "jsx", "mjs", "cjs"),
    "typescript": ("ts", "tsx", "mts", "cts"),
    "go": ("go",),
    "rust": ("rs",),
    "java": ("java",),
    "kotlin": ("kt", "kts"),
    "scala": ("scala", "sc"),
    "swift": ("swift",),
    "csharp": ("cs",),
    "c": ("c", "h"),
    "cpp": ("cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "inl"),
    "objc": ("m", "mm"),
    "dart": ("dart",),
    "php": ("php", "phtml"),
    "ruby": ("rb", "rake", "gemspec"),
    "perl": ("pl", "pm"),
    "lua": ("lua",),
    "r": ("r",),
    "julia": ("jl",),
    "elixir": ("ex", "exs"),
    "erlang": ("erl", "hrl"),
    "haskell": ("hs",),
    "shell": ("sh", "bash", "zsh", "ksh", "fish"),
    "powershell": ("ps1", "psm1"),
    "sql": ("sql",),
    "markdown": ("md", "markdown", "mdx", "mkd"),
    "rst": ("rst", "rest"),
    "yaml": ("yml", "yaml"),
    "toml": ("toml",),
    "ini": ("ini", "cfg", "conf", "properties"),
    "json": ("json", "jsonc", "json5", "ipynb"),
    "xml": ("xml", "xsd", "xsl", "svg", "plist"),
    "html": ("html", "htm", "xhtml", "jinja", "jinja2", "j2", "vue", "svelte"),
    "css": ("css", "scss", "sass", "less"),
    "protobuf": ("proto",),
    "graphql": ("graphql", "gql"),
    "terraform": ("tf", "tfvars", "hcl"),
    "text": ("txt", "text"),
}
_BY_EXTENSION = {ext: language for language, exts in _EXTENSIONS.items() for ext in exts}

# Files known by their whole name (lower-cased), which often have no extension.
_BY_NAME = {
    "makefile": "make",
    "gnumakefile": "make",
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "cmakelists.txt": "cmake",
    "gemfile": "ruby",
    "rakefile": "ruby",
    "vagrantfile": "ruby",
    "pipfile": "toml",
    ".bashrc": "shell",
    ".bash_profile": "shell",
    ".profile": "shell",
    ".zshrc": "shell",
    ".gitignore": "text",
    ".dockerignore": "text",
    ".editorconfig": "ini",
    "license": "text",
    "copying": "text",
    "authors": "text",
    "readme": "text",
    "changelog": "text",
}


def language_for(path: str) -> str:
    """A short language id ("python", "markdown", ...) for a file path; "" when unknown."""
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile"
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return ""
    return _BY_EXTENSION.get(ext, "")
