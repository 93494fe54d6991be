"""Speech: Silero VAD gates speech-to-text; transcripts become ``scout.stt/1`` events."""
