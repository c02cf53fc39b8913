"""Deploy a tuned model: export it (ONNX / OpenVINO, int8), check parity, load it without torch, serve it.

    graph.py    torch side: each predictor's `export_graph()` is one module (input_ids, attention_mask) -> tensor
    export.py   `domaintune export`: graph -> ONNX (+ onnxruntime optimiser, int8) or OpenVINO (+ NNCF int8)
    parity.py   the task's own evaluators on the torch model and on the export, side by side
    runtime.py  an exported folder as a predictor (embeddings, labels with scores, spans), no torch imported
    server.py   `domaintune serve`: FastAPI + uvicorn, dynamic batching, limits, JSON errors
"""
