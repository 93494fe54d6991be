"""Vision: CenterFace (ONNX, int8 QDQ) face detection → zones → ``scout.visual/1`` events."""
