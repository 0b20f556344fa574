import pytest

from embeddings.symbols import defined_names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("def compute_total(lines):\n    return 1\n", ["compute_total"]),
        ("class Invoice(Base):\n    async def pay(self): ...\n", ["Invoice", "pay"]),
        ("export default function renderPage() {}\nexport const API_URL = 'x'\n", ["renderPage", "API_URL"]),
        ("func (s *Server) ServeHTTP(w http.ResponseWriter) {}\ntype Handler struct{}\n", ["ServeHTTP", "Handler"]),
        ("pub(crate) fn parse_args() {}\nimpl Display for Token {}\n", ["parse_args", "Display"]),
        ("MAX_RETRIES = 5\nvalue == OTHER\n", ["MAX_RETRIES"]),
        ("x = compute_total(lines)  # a use, not a definition\n", []),
    ],
)
def test_it_reads_the_names_a_chunk_defines(text, names):
    assert defined_names(text) == names
