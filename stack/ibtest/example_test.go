package ibtest_test

import (
	"fmt"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/ibtest"
)

// A two-switch fabric given inline, walked with directed-route SMPs.
func Example() {
	f, err := ibtest.Start(ibtest.FromString(`
Switch 4 "sw1" # "left switch"
[1] "h1"[1]
[3] "sw2"[3]

Switch 4 "sw2" # "right switch"
[1] "h2"[1]
[3] "sw1"[3]

Hca 1 "h1" # "host one"
[1] "sw1"[1]

Hca 1 "h2" # "host two"
[1] "sw2"[1]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()

	res, err := f.Discover()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same graph:", topology.Compare(f.Topology, res.Topology) == nil)
	for _, n := range res.Topology.Nodes {
		fmt.Printf("%s %q with %d ports\n", n.Type, n.Desc, n.NumPorts)
	}
	// Output:
	// same graph: true
	// CA "host one" with 1 ports
	// Switch "left switch" with 4 ports
	// Switch "right switch" with 4 ports
	// CA "host two" with 1 ports
}
