module github.com/sluice-go/sluice/vet/golangci

go 1.26.0

require (
	github.com/golangci/plugin-module-register v0.1.2
	github.com/sluice-go/sluice v0.0.0
	golang.org/x/tools v0.52.0
)

require golang.org/x/sync v0.24.0 // indirect

replace github.com/sluice-go/sluice => ../..
