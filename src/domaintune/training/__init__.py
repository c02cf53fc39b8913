"""Training mechanics shared by every task: batching, callbacks, the trainer set-up."""
