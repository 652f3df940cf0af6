package prom

import (
	"strings"
	"unicode"

	"github.com/sluice-go/sluice/debug"
)

// metricName is the Prometheus name of one Stats field of a kind:
// sluice_<kind>_<field>, the kind lowercased with every character a metric
// name cannot hold (the "." of "keyed.Mutex") made "_", the field in
// snake_case, Waiting said "waiters", sem's Capacity said "permits", then
// "_seconds" for a duration and "_total" for a running total.
func metricName(kind string, f debug.Figure) string {
	var b strings.Builder
	b.WriteString("sluice_")
	b.WriteString(kindName(kind))
	b.WriteByte('_')
	switch {
	case kind == "sem" && f.Field == "Capacity":
		b.WriteString("permits")
	default:
		field := snake(f.Field)
		if rest, ok := strings.CutSuffix(field, "waiting"); ok && (rest == "" || strings.HasSuffix(rest, "_")) {
			field = rest + "waiters"
		}
		b.WriteString(field)
	}
	if f.Seconds {
		b.WriteString("_seconds")
	}
	if f.Counter {
		b.WriteString("_total")
	}
	return b.String()
}

// waitName is the name of a kind's wait histogram.
func waitName(kind string) string {
	return "sluice_" + kindName(kind) + "_wait_seconds"
}

// kindName is kind as one metric-name segment: "keyed.Mutex" ->
// "keyed_mutex".
func kindName(kind string) string {
	return sanitize(strings.ToLower(kind))
}

// sanitize replaces every character a metric name cannot hold with "_".
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// snake turns a Go field name into snake_case: "ReadInUse" -> "read_in_use",
// "TTLHits" -> "ttl_hits".
func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			// A new word starts at an upper-case letter after a lower-case
			// one, or at the last capital of an acronym followed by a word.
			if prevLower || nextLower && unicode.IsUpper(rs[i-1]) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return sanitize(b.String())
}

// lanes are the prefixes the README's vocabulary puts before a field of a
// type with more than one resource.
var lanes = []string{"Read", "Write", "Stream", "Offload"}

// helps are the help texts of the Stats fields, by the README's vocabulary
// and the fields only some packages have.
var helps = map[string]string{
	"Capacity":    "How many may hold the resource at once (permits, slots, room).",
	"InUse":       "How many hold the resource now.",
	"Waiting":     "Callers blocked now, waiting to be admitted.",
	"Queued":      "Accepted work not yet started.",
	"Reserved":    "Room reserved and not yet used or given back.",
	"Overdue":     "Calls whose caller has returned while their function still runs.",
	"OldestWait":  "How long the longest current waiter has waited; 0 when nobody waits.",
	"Admitted":    "Callers let in, after a wait or at once.",
	"Cancelled":   "Waits that ended because the caller's context ended.",
	"Rejected":    "Calls refused at once (a failed Try, ErrFull, ErrRunning).",
	"TimedOut":    "Waits or work ended by the primitive's own deadline.",
	"Panicked":    "Functions run for the caller that panicked or called runtime.Goexit.",
	"Completed":   "Tasks that returned, panicked or called runtime.Goexit.",
	"Failed":      "Tasks that returned an error.",
	"Contended":   "Calls that had to wait.",
	"Handled":     "Handlers that ran.",
	"Runs":        "Runs started.",
	"Shared":      "Calls that got the result of a run another call ran.",
	"Hits":        "Calls answered at once from a stored value or a remembered success.",
	"Fetches":     "Fetches started.",
	"Invalid":     "Fetched values the validity check refused.",
	"SlowReports": "Watchdog reports of a slow handler.",
	"Keys":        "Keys held, running or waited on now.",
	"Entries":     "Values stored now.",
	"Fetching":    "Fetches in flight now.",
	"Running":     "Runs in progress now.",
	"Pending":     "1 while a trailing run is wanted after the current one, else 0.",
	"Done":        "1 once Wait has returned, else 0.",
	"Serial":      "1 if built by Serial (one call at a time), else 0.",
	"Closed":      "1 once Close has been called, else 0.",
}

// kindHelps are the help texts of fields whose meaning depends on the kind.
var kindHelps = map[string]string{
	"sem.Capacity":      "Permits in all.",
	"sem.InUse":         "Permits held now.",
	"keyed.Once.Done":   "Keys whose success is remembered.",
	"run.Guard.Running": "1 while a run is in progress, else 0.",
}

// help is the help text of one field of a kind.
func help(kind, field string) string {
	if h, ok := kindHelps[kind+"."+field]; ok {
		return h
	}
	if h, ok := helps[field]; ok {
		return h
	}
	for _, lane := range lanes {
		if base, ok := strings.CutPrefix(field, lane); ok {
			if h, ok := helps[base]; ok {
				return lane + " lane: " + strings.ToLower(h[:1]) + h[1:]
			}
		}
	}
	return "The " + kind + " Stats field " + field + "."
}

// waitHelp is the help text of the wait histogram.
const waitHelp = "How long each caller that had to wait waited before it was admitted (callers admitted at once are not counted)."
