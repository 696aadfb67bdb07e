package tunnel

import (
	"fmt"
	"sync"
	"time"
)

// EventKind says what an [Event] reports.
type EventKind int

const (
	// EventUp reports that the remote address was reached: the first time
	// (and then Ready is closed), and again after a failure.
	EventUp EventKind = iota + 1

	// EventReconnecting reports that a dial failed with a transient error
	// (SSH connection lost, nothing listening yet) and is being retried.
	EventReconnecting

	// EventDown reports that the remote address cannot be reached: a
	// permanent refusal, retries that ran out of time, or Close. The
	// listener stays open until Close; later connections dial again.
	EventDown

	// EventConnError reports that one forwarded connection failed: its dial
	// gave up, or its stream ended with an error. Event.Conn names it.
	EventConnError
)

// String returns the kind in lower case: "up", "reconnecting", "down" or
// "conn-error".
func (k EventKind) String() string {
	switch k {
	case EventUp:
		return "up"
	case EventReconnecting:
		return "reconnecting"
	case EventDown:
		return "down"
	case EventConnError:
		return "conn-error"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change of a tunnel's state, or one failed connection.
type Event struct {
	// Kind says what happened.
	Kind EventKind

	// Time is when it happened.
	Time time.Time

	// Conn numbers the forwarded connection of an EventConnError, counting
	// from 1 in the order they were accepted. It is zero for state events.
	Conn uint64

	// Err says why, for EventReconnecting, EventDown and EventConnError.
	// It is a *DialError for a dial that failed, a *StreamError for a
	// stream that broke, and ErrClosed for the EventDown that Close sends.
	Err error
}

// String formats the event for logs, as "down: <error>".
func (e Event) String() string {
	s := e.Kind.String()
	if e.Conn != 0 {
		s += fmt.Sprintf(" conn %d", e.Conn)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// dispatcher calls the user's callback from one goroutine, in order, so that
// a slow callback never stalls a stream.
type dispatcher struct {
	fn   func(Event)
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	queue  []Event
	closed bool
}

func newDispatcher(fn func(Event)) *dispatcher {
	d := &dispatcher{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if fn == nil {
		close(d.done)
		return d
	}
	go d.run()
	return d
}

// emit queues ev; it never blocks.
func (d *dispatcher) emit(ev Event) {
	if d.fn == nil {
		return
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, ev)
	d.mu.Unlock()

	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.mu.Unlock()
			<-d.wake
			d.mu.Lock()
		}
		q := d.queue
		d.queue = nil
		stop := d.closed && len(q) == 0
		d.mu.Unlock()

		if stop {
			return
		}
		for _, ev := range q {
			d.fn(ev)
		}
	}
}

// close delivers what is queued and waits for the callback to return.
func (d *dispatcher) close() {
	if d.fn == nil {
		return
	}

	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()

	select {
	case d.wake <- struct{}{}:
	default:
	}
	<-d.done
}
