define i64 @"modadd"(i64 %".1", i64 %".2")
{
entry:
  %".4" = icmp sge i64 %".1", 0
  %".5" = icmp sle i64 %".1", 112
  %".6" = and i1 %".4", %".5"
  %".7" = icmp sge i64 %".2", 0
  %".8" = icmp sle i64 %".2", 112
  %".9" = and i1 %".7", %".8"
  %".10" = and i1 1, %".6"
  %".11" = and i1 %".10", %".9"
  br i1 %".11", label %"inside", label %"outside"
outside:
  ret i64 -1
inside:
  %".14" = add i64 %".1", %".2"
  %".15" = srem i64 %".14", 113
  %".16" = icmp ne i64 %".15", 0
  %".17" = xor i64 %".15", 113
  %".18" = icmp slt i64 %".17", 0
  %".19" = and i1 %".16", %".18"
  %".20" = add i64 %".15", 113
  %".21" = select  i1 %".19", i64 %".20", i64 %".15"
  ret i64 %".21"
}

define i32 @"modadd_batch_i64"(i64 %".1", ptr noalias %".2", ptr noalias %".3", ptr noalias %".4")
{
entry:
  %".6" = alloca i64
  store i64 0, i64* %".6"
  %".8" = icmp slt i64 %".1", 0
  %".11" = alloca i32
  br i1 %".8", label %"bad", label %"work"
work:
  store i32 0, i32* %".11"
  br label %"loop"
bad:
  ret i32 -1
loop:
  %".14" = phi  i64 [0, %"work"], [%".45", %"body"]
  %".15" = icmp slt i64 %".14", %".1"
  br i1 %".15", label %"body", label %"done"
body:
  %".17" = getelementptr i64, ptr %".2", i64 %".14"
  %".18" = load i64, ptr %".17"
  %".19" = getelementptr i64, ptr %".3", i64 %".14"
  %".20" = load i64, ptr %".19"
  %".21" = icmp sge i64 %".18", 0
  %".22" = icmp sle i64 %".18", 112
  %".23" = and i1 %".21", %".22"
  %".24" = icmp sge i64 %".20", 0
  %".25" = icmp sle i64 %".20", 112
  %".26" = and i1 %".24", %".25"
  %".27" = and i1 1, %".23"
  %".28" = and i1 %".27", %".26"
  %".29" = add i64 %".18", %".20"
  %".30" = srem i64 %".29", 113
  %".31" = icmp ne i64 %".30", 0
  %".32" = xor i64 %".30", 113
  %".33" = icmp slt i64 %".32", 0
  %".34" = and i1 %".31", %".33"
  %".35" = add i64 %".30", 113
  %".36" = select  i1 %".34", i64 %".35", i64 %".30"
  %".37" = select  i1 %".28", i64 %".36", i64 -1
  %".38" = load i32, i32* %".11"
  %".39" = xor i1 %".28", -1
  %".40" = zext i1 %".39" to i32
  %".41" = or i32 %".38", %".40"
  store i32 %".41", i32* %".11"
  %".43" = getelementptr i64, ptr %".4", i64 %".14"
  store i64 %".37", ptr %".43"
  %".45" = add i64 %".14", 1
  br label %"loop"
done:
  %".47" = load i32, i32* %".11"
  %".48" = icmp ne i32 %".47", 0
  br i1 %".48", label %"done.if", label %"done.endif"
done.if:
  br label %"loop.1"
done.endif:
  %".74" = load i64, i64* %".6"
  %".75" = icmp sgt i64 %".74", 2147483647
  %".76" = select  i1 %".75", i64 2147483647, i64 %".74"
  %".77" = trunc i64 %".76" to i32
  ret i32 %".77"
loop.1:
  %".51" = phi  i64 [0, %"done.if"], [%".71", %"body.1"]
  %".52" = icmp slt i64 %".51", %".1"
  br i1 %".52", label %"body.1", label %"done.1"
body.1:
  %".54" = getelementptr i64, ptr %".2", i64 %".51"
  %".55" = load i64, ptr %".54"
  %".56" = getelementptr i64, ptr %".3", i64 %".51"
  %".57" = load i64, ptr %".56"
  %".58" = icmp sge i64 %".55", 0
  %".59" = icmp sle i64 %".55", 112
  %".60" = and i1 %".58", %".59"
  %".61" = icmp sge i64 %".57", 0
  %".62" = icmp sle i64 %".57", 112
  %".63" = and i1 %".61", %".62"
  %".64" = and i1 1, %".60"
  %".65" = and i1 %".64", %".63"
  %".66" = load i64, i64* %".6"
  %".67" = xor i1 %".65", -1
  %".68" = zext i1 %".67" to i64
  %".69" = add i64 %".66", %".68"
  store i64 %".69", i64* %".6"
  %".71" = add i64 %".51", 1
  br label %"loop.1"
done.1:
  br label %"done.endif"
}
