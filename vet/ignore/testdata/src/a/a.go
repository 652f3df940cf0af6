package a

func f() {}

//sluice:ignore lockheld held only during startup
func ok() { f() }

//sluice:ignore lockhold typo in the rule // want `unknown rule "lockhold"`
func typo() { f() }

//sluice:ignore fanout // want `gives no reason`
func noReason() { f() }

//sluice:ignore // want `names no rule`
func nothing() { f() }

//sluice:ignore fanout,bogus batch of two // want `unknown rule "bogus"`
func mixed() { f() }

//sluice:ignoreme is another tool's directive and not ours
func other() { f() }

//sluice:ignore lockheld, fanout a space after the comma // want `empty rule name in "lockheld,"`
func spaced() { f() }
