"""A job's outputs: the txt/srt/vtt/json/rttm renderers, output naming (beside inbox files too),
atomic writing, speaker assignment and renaming."""
