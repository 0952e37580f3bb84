// placeholder: filled in by the futex work
