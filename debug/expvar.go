package debug

import (
	"expvar"
	"strconv"
)

// PublishExpvar publishes the registry's Snapshot as the expvar variable
// name, read each time /debug/vars (or expvar.Get(name)) is read. Like
// expvar.Publish, it panics if name is already published; publish once,
// at start-up. It panics too if name is empty.
func (r *Registry) PublishExpvar(name string) {
	r.check("PublishExpvar")
	if name == "" {
		panic("debug: PublishExpvar with an empty name")
	}
	if expvar.Get(name) != nil {
		panic("debug: PublishExpvar(" + strconv.Quote(name) + "): the name is already published")
	}
	expvar.Publish(name, expvar.Func(func() any { return r.Snapshot() }))
}
