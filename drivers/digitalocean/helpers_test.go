package digitalocean

import (
	"strconv"

	"github.com/digitalocean/godo"
)

type (
	godoKeyCreate     = godo.KeyCreateRequest
	godoDropletCreate = godo.DropletCreateRequest
)

func godoImage(slug string) godo.DropletCreateImage { return godo.DropletCreateImage{Slug: slug} }

func itoa(i int) string { return strconv.Itoa(i) }
