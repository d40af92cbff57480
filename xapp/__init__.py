"""linkadapt xApp: the online MCS decision service (numpy, onnxruntime, grpcio, fastapi)."""
