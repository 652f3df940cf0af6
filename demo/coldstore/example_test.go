package coldstore_test

import (
	"context"
	"fmt"

	"github.com/sluice-go/sluice/demo/coldstore"
	"github.com/sluice-go/sluice/gate"
)

func ExampleCold() {
	ctx := context.Background()
	blocks := coldstore.MakeChain(1, 10, 2, 2, "0xgenesis")
	store := coldstore.NewCold(coldstore.NewMem(blocks), gate.WithReaders(64), gate.WithStreams(8))
	defer store.Close(ctx)

	logs, err := store.GetLogs(ctx, coldstore.Filter{From: 1, To: coldstore.Latest, Addresses: []coldstore.Address{"0xa1"}, Limit: 100})
	fmt.Println(len(logs), err)

	_ = store.AppendBlocks(ctx, coldstore.MakeChain(11, 1, 1, 1, blocks[9].Hash))
	b, _ := store.BlockByNumber(ctx, 11)
	fmt.Println(b.Number)

	st, _ := store.StreamLogs(ctx, coldstore.Filter{From: 11, To: coldstore.Latest})
	for l := range st.C {
		fmt.Println(l.Block, l.Address, l.Topics[0])
	}
	// Output:
	// 12 <nil>
	// 11
	// 11 0xa3 0xapproval
}
