module github.com/docker-machine-ng/machine/test/plugins

go 1.26.8

require (
	github.com/docker/machine v0.16.2
	golang.org/x/sys v0.50.0
)

require (
	github.com/Azure/go-ansiterm v0.0.0-20250102033503-faa5f7b0171c // indirect
	github.com/docker/docker v20.10.24+incompatible // indirect
	github.com/moby/term v0.5.2 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/term v0.48.0 // indirect
)

replace github.com/docker/docker => github.com/docker/docker v20.10.24+incompatible
