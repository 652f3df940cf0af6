// Package c makes the untimed call, two packages below the loop.
package c

import "net/http"

func Fetch(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
