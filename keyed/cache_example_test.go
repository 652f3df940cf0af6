package keyed_test

import (
	"context"
	"fmt"

	"github.com/sluice-go/sluice/keyed"
)

type user struct {
	ID      int
	Created string
}

// The cache stores only complete records; concurrent misses share one
// fetch.
func ExampleCache() {
	ctx := context.Background()
	fetches := 0
	users := keyed.NewCache(func(ctx context.Context, id int) (user, error) {
		fetches++
		if fetches == 1 {
			return user{ID: id}, nil // incomplete: not stored
		}
		return user{ID: id, Created: "2021-03-04"}, nil
	}, func(u user) bool { return u.Created != "" })
	defer users.Close()

	for range 3 {
		u, _ := users.Get(ctx, 42)
		fmt.Printf("%+v\n", u)
	}
	fmt.Println("fetches:", fetches)
	// Output:
	// {ID:42 Created:}
	// {ID:42 Created:2021-03-04}
	// {ID:42 Created:2021-03-04}
	// fetches: 2
}
