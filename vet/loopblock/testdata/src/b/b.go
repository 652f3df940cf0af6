// Package b calls c.
package b

import "c"

func Lookup(url string) int { return c.Fetch(url) }
