// placeholder: filled in by the barrier work
