"""Regenerates the committed gRPC stubs from externalscaler.proto (`make proto`).

The generated `externalscaler_pb2_grpc.py` imports its sibling as a top-level module;
the import is rewritten to a package-relative one so the stubs live inside this package.

The generator (grpcio-tools, pinned in requirements/dev.txt) stamps its own version into the
stubs. `stale_files` compares the stubs with those stamps masked, so a patch release of the
generator, picked up by `make lock`, does not make the committed stubs "stale": only a change
of the proto or of the generated code does.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO = HERE / "externalscaler.proto"
OUTPUTS = ("externalscaler_pb2.py", "externalscaler_pb2.pyi", "externalscaler_pb2_grpc.py")

# The lines where the generator writes its own version, not anything the proto says:
# `# Protobuf Python Version: 7.35.1`, the runtime check's `7,\n    35,\n    1,` arguments and
# `GRPC_GENERATED_VERSION = '1.85.1'`.
_VERSION_STAMPS = (
    re.compile(r"^# Protobuf Python Version: .*$", re.MULTILINE),
    re.compile(r"(Domain\.PUBLIC,\n)\s*\d+,\n\s*\d+,\n\s*\d+,\n\s*'[^'\n]*',", re.MULTILINE),
    re.compile(r"^GRPC_GENERATED_VERSION = '[^'\n]*'$", re.MULTILINE),
)


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


def without_version_stamps(text: str) -> str:
    """The generated text with the generator's version stamps masked."""
    for stamp in _VERSION_STAMPS:
        text = stamp.sub(lambda m: (m.group(1) if m.groups() else "") + "<version>", text)
    return text


def stale_files() -> list[str]:
    """Names of committed stubs that differ from a fresh generation, version stamps aside."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        return [
            name
            for name in OUTPUTS
            if not (HERE / name).exists()
            or without_version_stamps((Path(tmp) / name).read_text())
            != without_version_stamps((HERE / name).read_text())
        ]


if __name__ == "__main__":
    generate(HERE)
    print(f"regenerated {', '.join(OUTPUTS)} in {HERE}", file=sys.stderr)
