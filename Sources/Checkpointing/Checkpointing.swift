// Module Checkpointing.
