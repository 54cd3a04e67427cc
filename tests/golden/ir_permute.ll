define internal void @"nnc_kernel"(i64 %".1", ptr noalias %".2", ptr noalias %".3", ptr noalias %".4")
{
entry:
  %".6" = getelementptr double, ptr %".2", i64 0
  %".7" = getelementptr i8, ptr %".4", i64 0
  br label %"start"
start:
  br label %"loop"
loop:
  %".9" = phi  i64 [0, %"start"], [%".50", %"done.1"]
  %".10" = icmp slt i64 %".9", 1
  br i1 %".10", label %"body", label %"done"
body:
  br label %"loop.1"
done:
  br label %"loop.4"
loop.1:
  %".13" = phi  i64 [0, %"body"], [%".48", %"done.2"]
  %".14" = icmp slt i64 %".13", 1
  br i1 %".14", label %"body.1", label %"done.1"
body.1:
  br label %"loop.2"
done.1:
  %".50" = add i64 %".9", 1
  br label %"loop"
loop.2:
  %".17" = phi  i64 [0, %"body.1"], [%".46", %"done.3"]
  %".18" = icmp slt i64 %".17", 3
  br i1 %".18", label %"body.2", label %"done.2"
body.2:
  br label %"loop.3"
done.2:
  %".48" = add i64 %".13", 1
  br label %"loop.1"
loop.3:
  %".21" = phi  i64 [0, %"body.2"], [%".44", %"body.3"]
  %".22" = icmp slt i64 %".21", 2
  br i1 %".22", label %"body.3", label %"done.3"
body.3:
  %".24" = mul i64 %".13", 6
  %".25" = add i64 0, %".24"
  %".26" = mul i64 %".17", 1
  %".27" = add i64 %".25", %".26"
  %".28" = mul i64 %".21", 3
  %".29" = add i64 %".27", %".28"
  %".30" = mul i64 %".9", 6
  %".31" = add i64 %".30", %".29"
  %".32" = getelementptr double, ptr %".6", i64 %".31"
  %".33" = load double, ptr %".32"
  %".34" = mul i64 %".13", 6
  %".35" = add i64 0, %".34"
  %".36" = mul i64 %".17", 2
  %".37" = add i64 %".35", %".36"
  %".38" = mul i64 %".21", 1
  %".39" = add i64 %".37", %".38"
  %".40" = mul i64 %".9", 6
  %".41" = add i64 %".40", %".39"
  %".42" = getelementptr double, ptr %".7", i64 %".41"
  store double %".33", ptr %".42"
  %".44" = add i64 %".21", 1
  br label %"loop.3"
done.3:
  %".46" = add i64 %".17", 1
  br label %"loop.2"
loop.4:
  %".53" = phi  i64 [0, %"done"], [%".70", %"done.5"]
  %".54" = icmp slt i64 %".53", 1
  br i1 %".54", label %"body.4", label %"done.4"
body.4:
  br label %"loop.5"
done.4:
  ret void
loop.5:
  %".57" = phi  i64 [0, %"body.4"], [%".68", %"body.5"]
  %".58" = icmp slt i64 %".57", 6
  br i1 %".58", label %"body.5", label %"done.5"
body.5:
  %".60" = mul i64 %".53", 6
  %".61" = add i64 %".60", %".57"
  %".62" = getelementptr double, ptr %".7", i64 %".61"
  %".63" = load double, ptr %".62"
  %".64" = mul i64 %".53", 6
  %".65" = add i64 %".64", %".57"
  %".66" = getelementptr double, ptr %".3", i64 %".65"
  store double %".63", ptr %".66"
  %".68" = add i64 %".57", 1
  br label %"loop.5"
done.5:
  %".70" = add i64 %".53", 1
  br label %"loop.4"
}
