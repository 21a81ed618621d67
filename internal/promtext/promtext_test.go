package promtext

import "testing"

func TestSum(t *testing.T) {
	page := `# HELP mediaedge_transforms_total x
mediaedge_transforms_total{format="webp"} 3
mediaedge_transforms_total{format="jpeg"} 2
mediaedge_transforms_total_other 100
mediaedge_store_operation_duration_seconds_count{op="open"} 7
mediaedge_store_operation_duration_seconds_count{op="opened"} 9
mediaedge_fleet_members 3
`
	for name, want := range map[string]float64{
		"mediaedge_transforms_total":                                  5,
		`mediaedge_store_operation_duration_seconds_count{op="open"}`: 7,
		"mediaedge_fleet_members":                                     3,
		"mediaedge_missing":                                           0,
	} {
		if got := Sum(page, name); got != want {
			t.Errorf("Sum(%s) = %v, want %v", name, got, want)
		}
	}
}
