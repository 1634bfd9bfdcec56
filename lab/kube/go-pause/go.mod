module rainbond-ha/lab/kube/pause

go 1.26.0
