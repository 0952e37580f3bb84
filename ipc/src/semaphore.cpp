// placeholder: filled in by the semaphore work
