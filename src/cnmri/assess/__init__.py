"""Assessment: imaging rules per segment and nerve; clinical reasoning (CNS status, differential)."""
