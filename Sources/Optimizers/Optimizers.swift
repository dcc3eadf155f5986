// Module Optimizers.
