package eventloop

import (
	"context"

	"github.com/sluice-go/sluice/loop"
)

// RunSluice scores workers the way the loop package is meant to be used:
// no handler blocks. Each HTTP call is one [loop.Offload]; it runs on the
// loop's workers, and its answer comes back onto the loop as the next
// handler of the worker's scoring (gotUser, then gotMerged), which is the
// only place the state changes. Every worker starts at once, so the calls
// wait on the API side by side.
func RunSluice(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults(50)
	return run(ctx, cfg, "eventloop/scores", func(p *pipeline) error {
		sc := &scorer{l: p.l, api: p.api}
		for w := range cfg.Workers {
			if err := p.l.PostNamed(ctx, "scoreWorker", func(s *state) { sc.scoreWorker(ctx, s, w) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// scorer is the sluice variant's pipeline: one handler per step of scoring
// a worker. Each returns at once; what blocks runs off the loop.
type scorer struct {
	l   *loop.Loop[state]
	api *api
}

// scoreWorker starts scoring worker w: the user lookup goes off the loop,
// and its answer comes back as gotUser.
func (sc *scorer) scoreWorker(ctx context.Context, s *state, w int) {
	err := loop.Offload(ctx, sc.l,
		func(ctx context.Context) (user, error) { return sc.api.user(ctx, w) },
		func(s *state, u user, err error) { sc.gotUser(ctx, s, u, err) })
	if err != nil {
		s.fail(err)
	}
}

// gotUser runs on the loop with a user lookup's answer. The merged lookup
// needs it, so it starts here, off the loop in turn; its answer comes back
// as gotMerged.
func (sc *scorer) gotUser(ctx context.Context, s *state, u user, err error) {
	if err != nil {
		s.fail(err)
		return
	}
	err = loop.Offload(ctx, sc.l,
		func(ctx context.Context) (int, error) { return sc.api.merged(ctx, u.ID) },
		func(s *state, merged int, err error) { sc.gotMerged(s, u, merged, err) })
	if err != nil {
		s.fail(err)
	}
}

// gotMerged runs on the loop with a merged count and records the
// worker's score.
func (sc *scorer) gotMerged(s *state, u user, merged int, err error) {
	s.record(u.ID, u, merged, err)
}
