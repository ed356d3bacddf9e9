"""Lesson D3: RL for language models as it is done today: GRPO, RLOO, DPO, verifiable rewards."""
