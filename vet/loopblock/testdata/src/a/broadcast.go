package a

import "context"

type event struct{ n int }

type subscriber struct {
	ch      chan event
	dropped int
}

type hub struct {
	events chan event
	join   chan *subscriber
	subs   []*subscriber
	byID   map[string]chan event
}

// One stuck subscriber stalls the broadcast loop.
func (h *hub) loop() {
	for {
		select {
		case e := <-h.events:
			for _, s := range h.subs {
				s.ch <- e // want `a plain send to each subscriber \(s\.ch <- e\)`
			}
		case s := <-h.join:
			h.subs = append(h.subs, s)
		}
	}
}

// Through a call, over a map.
func (h *hub) loop2() {
	for e := range h.events {
		h.publish(e) // want `a plain send to each subscriber \(ch <- e\).*hub\.loop2 -> hub\.publish -> ch <- e`
	}
}

func (h *hub) publish(e event) {
	for _, ch := range h.byID {
		ch <- e
	}
}

// The fix: a select with default drops and counts.
func (h *hub) loopFixed(ctx context.Context) {
	for {
		select {
		case e := <-h.events:
			for _, s := range h.subs {
				select {
				case s.ch <- e:
				default:
					s.dropped++
				}
			}
		case s := <-h.join:
			h.subs = append(h.subs, s)
		case <-ctx.Done():
			return
		}
	}
}

// The fix with ctx: the send gives up when the loop stops.
func (h *hub) loopCtx(ctx context.Context) {
	for e := range h.events {
		for _, s := range h.subs {
			select {
			case s.ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

func startHub(ctx context.Context, h *hub) {
	go h.loop()
	go h.loop2()
	go h.loopFixed(ctx)
	go h.loopCtx(ctx)
}

type sub struct{ err chan error }

// Each subscriber gets its one final error, then its channel is closed: a
// one-shot delivery on a channel made with room for it.
func (h *hub) closeLoop(stop chan error, subs map[int]*sub) {
	for {
		select {
		case err := <-stop:
			for id, s := range subs {
				s.err <- err
				close(s.err)
				delete(subs, id)
			}
		case e := <-h.events:
			_ = e
		}
	}
}

func startCloseLoop(h *hub) { go h.closeLoop(nil, nil) }
