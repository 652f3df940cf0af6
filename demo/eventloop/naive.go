package eventloop

import "context"

// RunNaive scores workers with handlers that make their HTTP calls on the
// loop, as the seed's pipeline did: one worker after another, each
// handler queueing the next when it is done, so status requests that
// arrive meanwhile wait for one handler at most (two calls).
func RunNaive(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults(5)
	return run(ctx, cfg, "eventloop/scores (naive)", func(p *pipeline) error {
		var scoreWorker func(w int) func(*state)
		scoreWorker = func(w int) func(*state) {
			return func(s *state) {
				user, err := p.api.user(ctx, w) // blocks the loop
				if err != nil {
					s.fail(err)
					return
				}
				merged, err := p.api.merged(ctx, user.ID) // blocks the loop again
				s.record(w, user, merged, err)
				if w+1 < cfg.Workers {
					if err := p.l.PostNamed(ctx, "scoreWorker", scoreWorker(w+1)); err != nil {
						s.fail(err)
					}
				}
			}
		}
		return p.l.PostNamed(ctx, "scoreWorker", scoreWorker(0))
	})
}
