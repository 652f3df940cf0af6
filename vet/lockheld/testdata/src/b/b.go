// Package b sits between a and c.
package b

import "c"

func Fetch(url string) error { return c.Post(url) }

func FetchQuick(url string) error { return c.Quick(url) }
