package session

import "sync"

// dispatcher delivers events to the application's callback in order, on
// its own goroutine: an unbounded queue, so emitting never blocks and never
// drops.
type dispatcher struct {
	fn   func(Event)
	wake chan struct{} // capacity 1
	done chan struct{} // closed when run has delivered everything and exited

	mu      sync.Mutex // guards queue and closing
	queue   []Event
	closing bool
}

func newDispatcher(fn func(Event)) *dispatcher {
	d := &dispatcher{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

// emit queues ev. Events emitted after close are dropped (there are none:
// only the supervisor goroutine emits, and it closes the dispatcher last).
func (d *dispatcher) emit(ev Event) {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, ev)
	d.mu.Unlock()
	d.signal()
}

// close lets run deliver what is queued, then exit.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	d.signal()
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		batch := d.queue
		d.queue = nil
		closing := d.closing
		d.mu.Unlock()
		for _, ev := range batch {
			if d.fn != nil {
				d.fn(ev)
			}
		}
		if len(batch) == 0 {
			if closing {
				return
			}
			<-d.wake
		}
	}
}
