import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_match_the_pinned_generator(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed_dir = ROOT / "xapp" / "_proto"
    assert generated, "nothing generated"
    for rel in generated:
        assert (committed_dir / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    committed = sorted(p.relative_to(committed_dir) for p in committed_dir.rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
    assert committed == generated
