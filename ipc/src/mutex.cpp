// placeholder: filled in by the mutex work
