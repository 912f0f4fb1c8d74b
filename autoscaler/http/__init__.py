"""The operators HTTP face (FastAPI), served beside the gRPC server."""
