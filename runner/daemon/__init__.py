"""The runner daemon: claiming jobs, decoding media (PyAV), transcription (faster-whisper),
diarization (pyannote.audio), the reaper, upkeep and webhook sending. The only package that imports
faster_whisper, ctranslate2, onnxruntime, torch, pyannote or av."""
