"""Regenerates the committed gRPC stubs from externalscaler.proto (`make proto`).

The generated `externalscaler_pb2_grpc.py` imports its sibling as a top-level module;
the import is rewritten to a package-relative one so the stubs live inside this package.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO = HERE / "externalscaler.proto"
OUTPUTS = ("externalscaler_pb2.py", "externalscaler_pb2.pyi", "externalscaler_pb2_grpc.py")


def generate(out_dir: Path) -> None:
    args = [
        "protoc",
        f"-I{HERE}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(PROTO),
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed for {PROTO}")
    grpc_file = out_dir / "externalscaler_pb2_grpc.py"
    text = grpc_file.read_text().replace(
        "import externalscaler_pb2 as externalscaler__pb2",
        "from . import externalscaler_pb2 as externalscaler__pb2",
    )
    grpc_file.write_text(text)


def stale_files() -> list[str]:
    """Names of committed stubs that differ from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        return [
            name
            for name in OUTPUTS
            if not (HERE / name).exists()
            or (Path(tmp) / name).read_text() != (HERE / name).read_text()
        ]


if __name__ == "__main__":
    generate(HERE)
    print(f"regenerated {', '.join(OUTPUTS)} in {HERE}", file=sys.stderr)
