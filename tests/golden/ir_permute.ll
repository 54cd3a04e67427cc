define internal void @"nnc_kernel"(ptr noalias %".1", ptr noalias %".2", ptr noalias %".3")
{
entry:
  %".5" = getelementptr double, ptr %".1", i64 0
  %".6" = getelementptr i8, ptr %".3", i64 0
  br label %"start"
start:
  br label %"loop"
loop:
  %".8" = phi  i64 [0, %"start"], [%".49", %"done.1"]
  %".9" = icmp slt i64 %".8", 1
  br i1 %".9", label %"body", label %"done"
body:
  br label %"loop.1"
done:
  br label %"loop.4"
loop.1:
  %".12" = phi  i64 [0, %"body"], [%".47", %"done.2"]
  %".13" = icmp slt i64 %".12", 1
  br i1 %".13", label %"body.1", label %"done.1"
body.1:
  br label %"loop.2"
done.1:
  %".49" = add i64 %".8", 1
  br label %"loop"
loop.2:
  %".16" = phi  i64 [0, %"body.1"], [%".45", %"done.3"]
  %".17" = icmp slt i64 %".16", 3
  br i1 %".17", label %"body.2", label %"done.2"
body.2:
  br label %"loop.3"
done.2:
  %".47" = add i64 %".12", 1
  br label %"loop.1"
loop.3:
  %".20" = phi  i64 [0, %"body.2"], [%".43", %"body.3"]
  %".21" = icmp slt i64 %".20", 2
  br i1 %".21", label %"body.3", label %"done.3"
body.3:
  %".23" = mul i64 %".12", 6
  %".24" = add i64 0, %".23"
  %".25" = mul i64 %".16", 1
  %".26" = add i64 %".24", %".25"
  %".27" = mul i64 %".20", 3
  %".28" = add i64 %".26", %".27"
  %".29" = mul i64 %".8", 6
  %".30" = add i64 %".29", %".28"
  %".31" = getelementptr double, ptr %".5", i64 %".30"
  %".32" = load double, ptr %".31"
  %".33" = mul i64 %".12", 6
  %".34" = add i64 0, %".33"
  %".35" = mul i64 %".16", 2
  %".36" = add i64 %".34", %".35"
  %".37" = mul i64 %".20", 1
  %".38" = add i64 %".36", %".37"
  %".39" = mul i64 %".8", 6
  %".40" = add i64 %".39", %".38"
  %".41" = getelementptr double, ptr %".6", i64 %".40"
  store double %".32", ptr %".41"
  %".43" = add i64 %".20", 1
  br label %"loop.3"
done.3:
  %".45" = add i64 %".16", 1
  br label %"loop.2"
loop.4:
  %".52" = phi  i64 [0, %"done"], [%".69", %"done.5"]
  %".53" = icmp slt i64 %".52", 1
  br i1 %".53", label %"body.4", label %"done.4"
body.4:
  br label %"loop.5"
done.4:
  ret void
loop.5:
  %".56" = phi  i64 [0, %"body.4"], [%".67", %"body.5"]
  %".57" = icmp slt i64 %".56", 6
  br i1 %".57", label %"body.5", label %"done.5"
body.5:
  %".59" = mul i64 %".52", 6
  %".60" = add i64 %".59", %".56"
  %".61" = getelementptr double, ptr %".6", i64 %".60"
  %".62" = load double, ptr %".61"
  %".63" = mul i64 %".52", 6
  %".64" = add i64 %".63", %".56"
  %".65" = getelementptr double, ptr %".2", i64 %".64"
  store double %".62", ptr %".65"
  %".67" = add i64 %".56", 1
  br label %"loop.5"
done.5:
  %".69" = add i64 %".52", 1
  br label %"loop.4"
}
