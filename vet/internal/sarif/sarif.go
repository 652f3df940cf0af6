// Package sarif writes findings as a SARIF 2.1.0 log, the format GitHub code
// scanning and most CI dashboards read. Only what those consumers use is
// written: one run, the tool's rules with their help text, and one result per
// finding with its rule, level, message and location relative to a root.
package sarif

import (
	"encoding/json"
	"io"
	"net/url"
	"strings"
)

// Rule describes one rule in the log's tool section.
type Rule struct {
	ID, Short, Help, HelpURI string
}

// Location is a place in a file. File has forward slashes and is relative
// to the root the log is read against (for sluice, the module root), or
// absolute for a file outside it (the standard library, the module cache).
type Location struct {
	File         string
	Line, Column int
	Message      string // for related locations
}

// Result is one finding.
type Result struct {
	RuleID  string
	Message string
	Loc     Location
	Related []Location
}

// Write writes a SARIF 2.1.0 log of results found by tool (at version) under
// rules to w. Every result's RuleID must be one of rules.
func Write(w io.Writer, tool, version, infoURI string, rules []Rule, results []Result) error {
	index := map[string]int{}
	jr := make([]jsonRule, len(rules))
	for i, r := range rules {
		index[r.ID] = i
		jr[i] = jsonRule{
			ID:               r.ID,
			Name:             r.ID,
			ShortDescription: text{r.Short},
			FullDescription:  text{r.Help},
			Help:             text{r.Help},
			HelpURI:          r.HelpURI,
			Default:          config{Level: "warning"},
		}
	}
	res := make([]jsonResult, 0, len(results))
	for _, r := range results {
		jres := jsonResult{
			RuleID:    r.RuleID,
			RuleIndex: index[r.RuleID],
			Level:     "warning",
			Message:   text{r.Message},
			Locations: []location{loc(r.Loc, 0)},
		}
		for i, rel := range r.Related {
			jres.Related = append(jres.Related, loc(rel, i+1))
		}
		res = append(res, jres)
	}
	log := jsonLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []run{{
			Tool:    tool_{Driver: driver{Name: tool, Version: version, InformationURI: infoURI, Rules: jr}},
			Results: res,
		}},
	}
	// An empty results array, not null: a clean run is still a valid log.
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func loc(l Location, id int) location {
	col := l.Column
	if col < 1 {
		col = 1
	}
	line := l.Line
	if line < 1 {
		line = 1
	}
	out := location{Physical: physical{
		Artifact: artifactOf(l.File),
		Region:   region{StartLine: line, StartColumn: col},
	}}
	if id > 0 {
		out.ID = id
		if l.Message != "" {
			out.Message = &text{l.Message}
		}
	}
	return out
}

// artifactOf turns a file path into a SARIF artifact location. The uri is a
// URI reference, so a path's spaces, '#' and '%' are escaped. A relative
// path is relative to %SRCROOT%, the conventional base that code-scanning
// consumers resolve to their checkout; an absolute one becomes a file URI
// with no base, which is what SARIF requires of an absolute uri.
func artifactOf(file string) artifact {
	if strings.HasPrefix(file, "/") || len(file) > 2 && file[1] == ':' && file[2] == '/' { // "C:/..." on Windows
		u := url.URL{Scheme: "file", Path: "/" + strings.TrimPrefix(file, "/")}
		return artifact{URI: u.String()}
	}
	// url.URL.String escapes the path and keeps a first segment with a
	// colon from reading as a scheme.
	return artifact{URI: (&url.URL{Path: file}).String(), BaseID: "%SRCROOT%"}
}

type jsonLog struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []run  `json:"runs"`
}

type run struct {
	Tool    tool_        `json:"tool"`
	Results []jsonResult `json:"results"`
}

type tool_ struct {
	Driver driver `json:"driver"`
}

type driver struct {
	Name           string     `json:"name"`
	Version        string     `json:"version,omitempty"`
	InformationURI string     `json:"informationUri,omitempty"`
	Rules          []jsonRule `json:"rules"`
}

type jsonRule struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	ShortDescription text   `json:"shortDescription"`
	FullDescription  text   `json:"fullDescription"`
	Help             text   `json:"help"`
	HelpURI          string `json:"helpUri,omitempty"`
	Default          config `json:"defaultConfiguration"`
}

type config struct {
	Level string `json:"level"`
}

type text struct {
	Text string `json:"text"`
}

type jsonResult struct {
	RuleID    string     `json:"ruleId"`
	RuleIndex int        `json:"ruleIndex"`
	Level     string     `json:"level"`
	Message   text       `json:"message"`
	Locations []location `json:"locations"`
	Related   []location `json:"relatedLocations,omitempty"`
}

type location struct {
	ID       int      `json:"id,omitempty"`
	Physical physical `json:"physicalLocation"`
	Message  *text    `json:"message,omitempty"`
}

type physical struct {
	Artifact artifact `json:"artifactLocation"`
	Region   region   `json:"region"`
}

type artifact struct {
	URI    string `json:"uri"`
	BaseID string `json:"uriBaseId,omitempty"`
}

type region struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
}
