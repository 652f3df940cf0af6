package s

func hazard() {}

func plain() {
	hazard() // want `hazard called`
}

func sameLine() {
	hazard() //sluice:ignore lockheld the caller holds no lock here
}

func lineAbove() {
	//sluice:ignore lockheld,fanout reviewed: bounded by the caller
	hazard()
	hazard() // want `hazard called`
}

func otherRule() {
	//sluice:ignore fanout this names another rule
	hazard() // want `hazard called`
}

func noReason() {
	//sluice:ignore lockheld
	hazard() // want `hazard called`
}

// aboveFunc is covered whole by the directive below its doc comment.
//
//sluice:ignore lockheld startup only, no other goroutine exists yet
func aboveFunc() {
	hazard()
	func() {
		hazard()
	}()
}

//sluice:ignore lockheld covers only the function it stands above
func covered() { hazard() }

func notCovered() {
	hazard() // want `hazard called`
}
