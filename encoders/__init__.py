"""Text encoders (Hugging Face transformers) and graph encoders (PyTorch Geometric). Imports nothing else of ours."""
