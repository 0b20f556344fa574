"""embeddings.live_files: a file of the live snapshot rebuilt from its chunks, line for line, and
only for someone the database lets see the branch (row-level security under the selectors)."""

import pytest

from embeddings.live_files import live_file_text
from embeddings.models import Chunk
from nyxsync import tenancy

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE = "import os\n\n\ndef main():\n    \n    return os.getcwd()\n\n\n"
MANY = "\n\n".join(f"def handler_{n}(request):\n    # handle request {n}\n    return respond(request, {n})\n" for n in range(40))


def test_it_rebuilds_the_file_and_the_database_hides_it_from_other_tenants(owner, outsider, make_repo, link, sync_now):
    repo = make_repo()
    repo.write("app.py", SOURCE).write("many.py", MANY).write("blob.bin", b"\x00\x01\x02binary")
    repo.commit()
    project_sync = link(repo)
    sync_now(project_sync)

    with tenancy.acting_as(owner):
        text = live_file_text(project_sync=project_sync, path="app.py")
        binary = live_file_text(project_sync=project_sync, path="blob.bin")
        many = live_file_text(project_sync=project_sync, path="many.py")
        many_chunks = Chunk.objects.filter(file__project_sync=project_sync, file__path="many.py").count()
        missing = live_file_text(project_sync=project_sync, path="nope.py")
    with tenancy.acting_as(outsider):  # no selector in the way: the raw SQL meets row-level security
        hidden = live_file_text(project_sync=project_sync, path="app.py")

    # Inside a chunk every character is kept; blank lines between chunks come back empty, and
    # trailing blank lines are not stored.
    assert text.lines == ["import os", "", "", "def main():", "    ", "    return os.getcwd()"]
    assert (text.language, text.skip_reason) == ("python", "")
    assert many_chunks >= 3 and many.lines == MANY.rstrip("\n").split("\n")  # the blank lines between chunks too
    assert (binary.lines, binary.skip_reason) == ([], "binary")
    assert missing is None and hidden is None
