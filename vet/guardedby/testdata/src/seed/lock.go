package seed

import "sync"

// chanLock nests the mutex one field down: the guard is a.lock.mu.
type chanLock struct{ mu sync.Mutex }
