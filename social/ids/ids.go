// Package ids makes the social tier's 64-bit time-ordered ids: 41 bits of
// milliseconds, 10 bits of node, 12 bits of sequence (Twitter's snowflake
// layout, through github.com/bwmarrin/snowflake with its defaults, which
// are exactly that layout; its package-level settings are never changed).
// Ids are strings in JSON: JavaScript loses precision above 2^53.
//
// Two processes must not share a node number: the node comes from the
// configuration (--node-id) and, in a fleet, must be unique per edge.
package ids

import (
	"fmt"

	"github.com/bwmarrin/snowflake"
)

// Generator makes ids for one node. It is safe for concurrent use.
type Generator struct{ n *snowflake.Node }

// New returns the generator of node (0..1023).
func New(node int64) (*Generator, error) {
	n, err := snowflake.NewNode(node)
	if err != nil {
		return nil, fmt.Errorf("ids: node %d: %w", node, err)
	}
	return &Generator{n: n}, nil
}

// Next returns a new id, larger than every id this generator returned
// before.
func (g *Generator) Next() int64 { return g.n.Generate().Int64() }
