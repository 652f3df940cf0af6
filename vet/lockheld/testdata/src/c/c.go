// Package c does the blocking call, two packages below the lock.
package c

import (
	"net/http"
	"strings"
)

func Post(url string) error {
	resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Quick has a timeout.
func Quick(url string) error {
	cl := &http.Client{Timeout: 1}
	resp, err := cl.Get(url)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
