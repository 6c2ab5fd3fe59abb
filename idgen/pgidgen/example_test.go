package pgidgen_test

import (
	"context"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scalekit-go/scalekit/idgen"
	"github.com/scalekit-go/scalekit/idgen/pgidgen"
)

// Dense order numbers shared by every instance of a service: one
// UPDATE … RETURNING per 1,000 IDs, fetched in the background.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	// Open creates the table if needed (safe when many processes start at
	// once); pgidgen.New does no I/O, for tables created by migration.
	src, err := pgidgen.Open(ctx, pool, &pgidgen.Options{Table: "app.id_blocks"})
	if err != nil {
		panic(err)
	}
	orders, err := idgen.NewSegment(src, "orders", &idgen.SegmentOptions{BlockSize: 1000})
	if err != nil {
		panic(err)
	}
	defer orders.Close()
	id, err := orders.Next(ctx)
	_, _ = id, err
}
