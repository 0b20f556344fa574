"""Repositories: the layer between the foundation and the apps that reads Git repositories. It
validates repository addresses and branch names (input), runs the hardened git client (git,
git_process), lists branches (branches) and picks the token each repository gets (tokens). It
knows no app: a project is passed in where a token is chosen."""
