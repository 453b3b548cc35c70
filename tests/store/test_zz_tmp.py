import pytest, pyarrow as pa
from datamill.store import Workspace
def test_x(pg_url, tmp_path):
    ws = Workspace.init(tmp_path, db=pg_url)
    print(ws.write("a", pa.table({"id": ["x"]})).seq)
    ws.close()
